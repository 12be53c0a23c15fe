// UsageStore on PostgreSQL: one row per account and UTC day.
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/usage_window.h"

namespace bgerase::store::postgres {

Status PgUsage::Record(const AccountId& account, std::uint64_t images) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      tx.exec_params(
          "INSERT INTO usage_daily (account_id, day, images) VALUES ($1, $2, $3) "
          "ON CONFLICT (account_id, day) DO UPDATE SET images = usage_daily.images + "
          "excluded.images",
          account, UtcDay(c_.Now()), static_cast<std::int64_t>(images));
      tx.commit();
      return Status::Ok();
    });
  });
}

Result<std::vector<DailyUsage>> PgUsage::Daily(const AccountId& account, int days) {
  return PgGuard([&]() -> Result<std::vector<DailyUsage>> {
    std::vector<DailyUsage> out = UsageWindow(c_.Now(), days);
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      for (const auto& row : tx.exec_params(
               "SELECT day, images FROM usage_daily WHERE account_id = $1 AND day >= $2 AND "
               "day <= $3",
               account, out.front().day, out.back().day))
        AddUsage(out, row[0].as<std::string>(), row[1].as<std::uint64_t>());
      return out;
    });
  });
}

Result<std::uint64_t> PgUsage::Total(const AccountId& account) {
  return PgGuard([&]() -> Result<std::uint64_t> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      return tx
          .exec_params1("SELECT coalesce(sum(images), 0) FROM usage_daily WHERE account_id = $1",
                        account)[0]
          .as<std::uint64_t>();
    });
  });
}

}  // namespace bgerase::store::postgres
