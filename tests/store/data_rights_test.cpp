// promise 4 in docs/design/privacy.md: a customer can list everything held (with deletion times),
// export it as a zip, and delete it now.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/errors.h"
#include "store/storage_policy.h"
#include "store/zip_writer.h"
#include "store_env.h"

namespace bgerase::store {
namespace {

using namespace std::chrono_literals;
using namespace testutil;  // StoreEnv, Backend, T0 and the backends' instantiation

std::uint32_t Le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<std::uint8_t>(s[at + static_cast<std::size_t>(i)]);
  return v;
}
std::uint16_t Le16(const std::string& s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(s[at]) |
                                    (static_cast<std::uint8_t>(s[at + 1]) << 8));
}

// An independent reader of stored zips: walks the central directory, checks each local header
// and CRC, and returns name -> contents. Fails the test on any inconsistency.
std::map<std::string, std::string> ParseZip(const std::string& zip) {
  std::map<std::string, std::string> out;
  if (zip.size() < 22) {
    ADD_FAILURE() << "too short";
    return out;
  }
  const std::size_t eocd = zip.size() - 22;
  EXPECT_EQ(Le32(zip, eocd), 0x06054b50u);
  const std::uint16_t n = Le16(zip, eocd + 10);
  std::size_t cd = Le32(zip, eocd + 16);
  for (std::uint16_t i = 0; i < n; ++i) {
    EXPECT_EQ(Le32(zip, cd), 0x02014b50u);
    const std::uint32_t crc = Le32(zip, cd + 16);
    const std::uint32_t size = Le32(zip, cd + 20);
    const std::uint16_t name_len = Le16(zip, cd + 28);
    const std::uint32_t local = Le32(zip, cd + 42);
    const std::string name = zip.substr(cd + 46, name_len);
    EXPECT_EQ(Le32(zip, local), 0x04034b50u) << name;
    EXPECT_EQ(Le16(zip, local + 8), 0) << "stored";
    const std::string data = zip.substr(local + 30 + Le16(zip, local + 26), size);
    EXPECT_EQ(Crc32(AsBytes(data)), crc) << name;
    out[name] = data;
    cd += 46 + name_len + Le16(zip, cd + 30) + Le16(zip, cd + 32);
  }
  return out;
}

class DataRightsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = env_.Open(clock_, 2h);
    ASSERT_TRUE(store_);
    owner_ = store_->accounts().Create("rights@example.com", std::nullopt)->id;
    ASSERT_TRUE(store_->consent().Grant(owner_, "v1", ConsentActor::kWeb).ok());
    StoragePolicy policy(*store_);
    in_ = testutil::FakeImage("export-input");
    out_ = testutil::FakeImage("export-result");
    auto r = policy.StoreUpload(
        {owner_, AsBytes(in_), "image/jpeg", AsBytes(out_), "image/png", "Photo Agency", true});
    ASSERT_TRUE(r.ok());
    stored_ = *r;
  }

  StoreEnv env_{GetParam()};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(T0());
  std::unique_ptr<Store> store_;
  AccountId owner_;
  std::string in_, out_;
  StoredUpload stored_;
};

TEST_P(DataRightsTest, ListShowsEverythingWithExpiryNullOnlyForTraining) {
  auto items = store_->data_rights().ListHeldData(owner_);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 4u);  // processing input + result, training input + mask
  int training = 0;
  for (const auto& o : *items) {
    EXPECT_EQ(o.on_behalf_of, "Photo Agency");
    if (o.purpose == Purpose::kTraining) {
      ++training;
      EXPECT_FALSE(o.expires_at);
    } else {
      ASSERT_TRUE(o.expires_at);
      EXPECT_EQ(*o.expires_at, T0() + 2h);
    }
  }
  EXPECT_EQ(training, 2);
  clock_->Advance(2h);  // processing copies expire; training items stay while consent lasts
  EXPECT_EQ(store_->data_rights().ListHeldData(owner_)->size(), 2u);
}

TEST_P(DataRightsTest, ExportIsAValidZipWithEverything) {
  std::ostringstream zip;
  ASSERT_TRUE(store_->data_rights().ExportZip(owner_, zip).ok());
  const std::string bytes = zip.str();
  auto entries = ParseZip(bytes);
  ASSERT_EQ(entries.size(), 5u);  // 4 objects + data.json
  ASSERT_TRUE(entries.count("data.json"));
  const auto doc = nlohmann::json::parse(entries["data.json"]);
  EXPECT_EQ(doc["account"]["email"], "rights@example.com");
  EXPECT_EQ(doc["items"].size(), 4u);
  EXPECT_EQ(doc["consent_history"].size(), 1u);
  int inputs = 0;
  for (const auto& [name, data] : entries) {
    if (name != "data.json") {
      EXPECT_TRUE(data == in_ || data == out_) << name;
      inputs += data == in_;
    }
  }
  EXPECT_EQ(inputs, 2);

  // And a real unzip agrees, when one is installed.
  if (std::system("command -v unzip >/dev/null 2>&1") == 0) {
    const fs::path file = env_.data() / "export.zip";
    std::ofstream(file, std::ios::binary) << bytes;
    EXPECT_EQ(std::system(("unzip -tq '" + file.string() + "' >/dev/null").c_str()), 0);
  }
}

// Regression: export names came from a second format table that had no HEIC row, so a HEIC
// input was exported as ".bin".
TEST_P(DataRightsTest, ExportNamesEachObjectByItsFormat) {
  StoragePolicy policy(*store_);
  const std::string heic = testutil::FakeImage("heic-input");
  ASSERT_TRUE(policy
                  .StoreUpload({owner_, AsBytes(heic), "image/heic", AsBytes(out_), "image/png",
                                std::nullopt, false})
                  .ok());
  std::ostringstream zip;
  ASSERT_TRUE(store_->data_rights().ExportZip(owner_, zip).ok());
  int heics = 0, jpegs = 0;
  for (const auto& [name, data] : ParseZip(zip.str())) {
    EXPECT_EQ(name.find(".bin"), std::string::npos) << name;
    if (data == heic) {
      ++heics;
      EXPECT_TRUE(name.ends_with(".heic")) << name;
    }
    if (data == in_) {
      ++jpegs;
      EXPECT_TRUE(name.ends_with(".jpg")) << name;
    }
  }
  EXPECT_GE(heics, 1);
  EXPECT_GE(jpegs, 1);
}

TEST_P(DataRightsTest, DeleteAllNowRemovesEverything) {
  auto n = store_->data_rights().DeleteAllData(owner_);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_TRUE(store_->data_rights().ListHeldData(owner_)->empty());
  EXPECT_EQ(env_.BlobCount(), 0u);
  StoreEnv& raw = env_;
  EXPECT_EQ(raw.Int("SELECT count(*) FROM objects"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM deletion_log WHERE reason='owner_request'"), 4);
  // The account itself remains, and so does its consent.
  EXPECT_TRUE(store_->consent().Current(owner_)->opted_in);
  std::ostringstream zip;
  ASSERT_TRUE(store_->data_rights().ExportZip(owner_, zip).ok());
  EXPECT_EQ(ParseZip(zip.str()).size(), 1u);  // only data.json
}

// The web page's "delete this item": every object of the item goes, in one transaction.
TEST_P(DataRightsTest, DeleteItemRemovesEveryObjectOfTheItem) {
  ASSERT_EQ(stored_.processing.size(), 2u);  // the upload and its result share one item
  const ItemId item = stored_.processing[0].item_id;
  ASSERT_EQ(stored_.processing[1].item_id, item);
  StoragePolicy policy(*store_);
  const std::string other = testutil::FakeImage("other-item");
  auto kept = policy.StoreUpload(
      {owner_, AsBytes(other), "image/png", AsBytes(out_), "image/png", std::nullopt, true});
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->processing.size(), 2u);

  auto n = store_->data_rights().DeleteItem(owner_, item);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2u);
  for (const ObjectInfo& o : stored_.processing) {
    EXPECT_EQ(store_->objects().Get(owner_, o.id).status().code(), errors::kNotFound) << o.id;
    EXPECT_FALSE(env_.BlobExists(o.id)) << o.id;
  }
  EXPECT_EQ(env_.Int("SELECT count(*) FROM objects WHERE item_id = '" + item + "'"), 0);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM deletion_log WHERE reason='owner_request'"), 2);
  // Other items, the training item included, are untouched.
  auto held = store_->data_rights().ListHeldData(owner_);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->size(), 6u);  // the first upload's training pair, all 4 of the second
  for (const ObjectInfo& o : *held) EXPECT_NE(o.item_id, item);
  for (const ObjectInfo& o : kept->processing)
    EXPECT_TRUE(store_->objects().Get(owner_, o.id).ok());
  // Deleting it again finds nothing.
  EXPECT_EQ(store_->data_rights().DeleteItem(owner_, item).status().code(), errors::kNotFound);
}

TEST_P(DataRightsTest, DeleteItemRefusesAnotherAccountsItemAsNotFound) {
  auto other = store_->accounts().Create("someone-else@example.com", std::nullopt);
  ASSERT_TRUE(other.ok());
  const ItemId item = stored_.processing.at(0).item_id;
  auto refused = store_->data_rights().DeleteItem(other->id, item);
  EXPECT_EQ(refused.status().code(), errors::kNotFound);
  EXPECT_EQ(store_->data_rights()
                .DeleteItem(owner_, "itm_00000000000000000000000000000000")
                .status()
                .code(),
            errors::kNotFound);
  // Nothing of the owner's went.
  EXPECT_EQ(store_->data_rights().ListHeldData(owner_)->size(), 4u);
  for (const ObjectInfo& o : stored_.processing) {
    EXPECT_TRUE(store_->objects().Get(owner_, o.id).ok()) << o.id;
    EXPECT_TRUE(env_.BlobExists(o.id)) << o.id;
  }
  EXPECT_EQ(env_.Int("SELECT count(*) FROM deletion_log"), 0);
}

// A failure after the first object is gone rolls the whole deletion back: the database refuses
// the second deletion-log row.
TEST_P(DataRightsTest, DeleteItemIsAllOrNothing) {
  const std::string trigger =
      env_.sqlite() ? "CREATE TRIGGER fail_second BEFORE INSERT ON deletion_log "
                      "WHEN (SELECT count(*) FROM deletion_log) >= 1 "
                      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                    : "CREATE FUNCTION fail_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                      "IF (SELECT count(*) FROM deletion_log) >= 1 THEN "
                      "RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; "
                      "CREATE TRIGGER fail_second BEFORE INSERT ON deletion_log FOR EACH ROW "
                      "EXECUTE FUNCTION fail_second()";
  ASSERT_TRUE(env_.Exec(trigger)) << env_.error();
  const ItemId item = stored_.processing.at(0).item_id;
  auto failed = store_->data_rights().DeleteItem(owner_, item);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.status().code(), errors::kNotFound);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM deletion_log"), 0);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM objects WHERE item_id = '" + item + "'"), 2);
  for (const ObjectInfo& o : stored_.processing) {
    auto got = store_->objects().Get(owner_, o.id);
    ASSERT_TRUE(got.ok()) << o.id << ": " << got.status().ToString();
    EXPECT_EQ(testutil::AsString(got->bytes), o.kind == ObjectKind::kInput ? in_ : out_);
    EXPECT_TRUE(env_.BlobExists(o.id)) << o.id;
  }
  ASSERT_TRUE(
      env_.Exec("DROP TRIGGER fail_second" + std::string(env_.sqlite() ? "" : " ON deletion_log")))
      << env_.error();
  auto n = store_->data_rights().DeleteItem(owner_, item);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(env_.Int("SELECT count(*) FROM objects WHERE item_id = '" + item + "'"), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, DataRightsTest, testutil::AllBackends(), testutil::BackendName);

}  // namespace
}  // namespace bgerase::store
