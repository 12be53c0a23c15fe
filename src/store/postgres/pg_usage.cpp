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

namespace {

CreditState CreditsIn(pqxx::transaction_base& tx, const AccountId& account, Time now) {
  CreditState state;
  auto allowance = tx.exec_params(
      "SELECT monthly_quarters FROM credit_allowances WHERE account_id = $1", account);
  if (!allowance.empty()) state.allowance = allowance[0][0].as<std::int64_t>();
  state.spent = tx.exec_params1(
                      "SELECT coalesce(sum(quarter_credits), 0) FROM usage_daily WHERE "
                      "account_id = $1 AND day >= $2 AND day <= $3",
                      account, UtcMonthStart(now), UtcDay(now))[0]
                    .as<std::int64_t>();
  return state;
}

}  // namespace

Result<CreditState> PgUsage::Credits(const AccountId& account) {
  return PgGuard([&]() -> Result<CreditState> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<CreditState> {
      pqxx::read_transaction tx(conn);
      if (tx.exec_params("SELECT 1 FROM accounts WHERE id = $1", account).empty())
        return refusals::NoSuchAccount();
      return CreditsIn(tx, account, c_.Now());
    });
  });
}

Status PgUsage::Charge(const AccountId& account, std::int64_t quarters) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      // The account's row locked for update: charges to one account, from any replica, are
      // checked and added one at a time.
      if (!LockAccount(tx, account, "FOR UPDATE")) return refusals::NoSuchAccount();
      const Time now = c_.Now();
      BGERASE_RETURN_IF_ERROR(CheckCharge(CreditsIn(tx, account, now), quarters));
      tx.exec_params(
          "INSERT INTO usage_daily (account_id, day, images, quarter_credits) VALUES ($1, $2, 0, "
          "$3) ON CONFLICT (account_id, day) DO UPDATE SET quarter_credits = "
          "usage_daily.quarter_credits + excluded.quarter_credits",
          account, UtcDay(now), quarters);
      tx.commit();
      return Status::Ok();
    });
  });
}

Status PgUsage::Refund(const AccountId& account, std::int64_t quarters, Time charged_at) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      tx.exec_params(
          "UPDATE usage_daily SET quarter_credits = greatest(0, quarter_credits - $3) "
          "WHERE account_id = $1 AND day = $2",
          account, UtcDay(charged_at), quarters);
      tx.commit();
      return Status::Ok();
    });
  });
}

Status PgUsage::SetAllowance(const AccountId& account, std::optional<std::int64_t> quarters) {
  return PgGuard([&]() -> Status {
    if (quarters && *quarters < 0)
      return Status(errors::kInvalidArgument, "an allowance cannot be negative");
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) return refusals::NoSuchAccount();
      if (quarters) {
        tx.exec_params(
            "INSERT INTO credit_allowances (account_id, monthly_quarters) VALUES ($1, $2) "
            "ON CONFLICT (account_id) DO UPDATE SET monthly_quarters = excluded.monthly_quarters",
            account, *quarters);
      } else {
        tx.exec_params("DELETE FROM credit_allowances WHERE account_id = $1", account);
      }
      tx.commit();
      return Status::Ok();
    });
  });
}

}  // namespace bgerase::store::postgres
