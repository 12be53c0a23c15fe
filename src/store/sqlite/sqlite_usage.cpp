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

namespace {

// The month's state; the caller holds the database mutex.
CreditState CreditsLocked(SqliteDb& db, const AccountId& account, Time now) {
  CreditState state;
  auto allowance =
      db.Prepare("SELECT monthly_quarters FROM credit_allowances WHERE account_id = ?1");
  allowance.Bind(1, account);
  if (allowance.Step()) state.allowance = allowance.Int(0);
  auto spent = db.Prepare(
      "SELECT coalesce(sum(quarter_credits), 0) FROM usage_daily WHERE account_id = ?1 AND "
      "day >= ?2 AND day <= ?3");
  spent.Bind(1, account).Bind(2, UtcMonthStart(now)).Bind(3, UtcDay(now));
  spent.Step();
  state.spent = spent.Int(0);
  return state;
}

}  // namespace

Result<CreditState> SqliteUsage::Credits(const AccountId& account) {
  return Guard([&]() -> Result<CreditState> {
    std::lock_guard lock(c_.db->mutex());
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    return CreditsLocked(*c_.db, account, c_.Now());
  });
}

Status SqliteUsage::Charge(const AccountId& account, std::int64_t quarters) {
  return Guard([&]() -> Status {
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    const Time now = c_.Now();
    BGERASE_RETURN_IF_ERROR(CheckCharge(CreditsLocked(*c_.db, account, now), quarters));
    auto q = c_.db->Prepare(
        "INSERT INTO usage_daily (account_id, day, images, quarter_credits) VALUES (?1, ?2, 0, ?3) "
        "ON CONFLICT (account_id, day) DO UPDATE SET quarter_credits = quarter_credits + "
        "excluded.quarter_credits");
    q.Bind(1, account).Bind(2, UtcDay(now)).Bind(3, quarters);
    q.Run();
    tx.Commit();
    return Status::Ok();
  });
}

Status SqliteUsage::Refund(const AccountId& account, std::int64_t quarters, Time charged_at) {
  return Guard([&]() -> Status {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(
        "UPDATE usage_daily SET quarter_credits = max(0, quarter_credits - ?3) "
        "WHERE account_id = ?1 AND day = ?2");
    q.Bind(1, account).Bind(2, UtcDay(charged_at)).Bind(3, quarters);
    q.Run();
    return Status::Ok();
  });
}

Status SqliteUsage::SetAllowance(const AccountId& account, std::optional<std::int64_t> quarters) {
  return Guard([&]() -> Status {
    if (quarters && *quarters < 0)
      return Status(errors::kInvalidArgument, "an allowance cannot be negative");
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    if (quarters) {
      auto q = c_.db->Prepare(
          "INSERT INTO credit_allowances (account_id, monthly_quarters) VALUES (?1, ?2) "
          "ON CONFLICT (account_id) DO UPDATE SET monthly_quarters = excluded.monthly_quarters");
      q.Bind(1, account).Bind(2, *quarters);
      q.Run();
    } else {
      auto q = c_.db->Prepare("DELETE FROM credit_allowances WHERE account_id = ?1");
      q.Bind(1, account);
      q.Run();
    }
    tx.Commit();
    return Status::Ok();
  });
}

}  // namespace bgerase::store::sqlite
