// UsageStore on SQLite: one row per account and UTC day.
#include "store/refusals.h"
#include "store/sqlite/sqlite_store.h"
#include "store/usage_window.h"

namespace bgerase::store::sqlite {

Status SqliteUsage::Record(const AccountId& account, std::uint64_t images) {
  return Guard([&]() -> Status {
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    auto q = c_.db->Prepare(
        "INSERT INTO usage_daily (account_id, day, images) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (account_id, day) DO UPDATE SET images = images + excluded.images");
    q.Bind(1, account).Bind(2, UtcDay(c_.Now())).Bind(3, static_cast<std::int64_t>(images));
    q.Run();
    tx.Commit();
    return Status::Ok();
  });
}

Result<std::vector<DailyUsage>> SqliteUsage::Daily(const AccountId& account, int days) {
  return Guard([&]() -> Result<std::vector<DailyUsage>> {
    std::vector<DailyUsage> out = UsageWindow(c_.Now(), days);
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(
        "SELECT day, images FROM usage_daily WHERE account_id = ?1 AND day >= ?2 AND day <= ?3");
    q.Bind(1, account).Bind(2, out.front().day).Bind(3, out.back().day);
    while (q.Step()) AddUsage(out, q.Text(0), static_cast<std::uint64_t>(q.Int(1)));
    return out;
  });
}

Result<std::uint64_t> SqliteUsage::Total(const AccountId& account) {
  return Guard([&]() -> Result<std::uint64_t> {
    std::lock_guard lock(c_.db->mutex());
    auto q =
        c_.db->Prepare("SELECT coalesce(sum(images), 0) FROM usage_daily WHERE account_id = ?1");
    q.Bind(1, account);
    q.Step();
    return static_cast<std::uint64_t>(q.Int(0));
  });
}

}  // namespace bgerase::store::sqlite
