// docs/reference/openapi.yaml against the code, so the two cannot drift: every API route the
// server registers is in the document with its method and every path-and-method the document
// lists is a route; the error-code enum is exactly the catalogue's codes that API routes answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "api/error_catalogue.h"
#include "api/server.h"
#include "store/store.h"

namespace bgerase::api {
namespace {

std::string ReadOpenApi() {
  std::ifstream f(std::string(BGERASE_SOURCE_DIR) + "/docs/reference/openapi.yaml");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// "METHOD /path" for each operation under `paths:` (paths at two spaces, methods at four).
std::set<std::string> DocumentedOperations(const std::string& doc) {
  std::set<std::string> ops;
  std::istringstream in(doc.substr(doc.find("\npaths:\n")));
  std::string line, path;
  const std::regex path_line(R"(^  (/\S*):\s*$)");
  const std::regex method_line(R"(^    (get|put|post|delete|patch):\s*$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, path_line)) path = m[1];
    if (std::regex_match(line, m, method_line) && !path.empty()) {
      std::string method = m[1];
      for (char& c : method) c = static_cast<char>(std::toupper(c));
      ops.insert(method + " " + path);
    }
  }
  return ops;
}

// The codes of the error schema's enum (the list that starts with bad_request).
std::set<std::string> DocumentedErrorCodes(const std::string& doc) {
  const auto start = doc.find("enum: [bad_request");
  if (start == std::string::npos) return {};
  const auto open = doc.find('[', start), close = doc.find(']', start);
  std::set<std::string> codes;
  std::string list = doc.substr(open + 1, close - open - 1);
  const std::regex word(R"([a-z0-9_]+)");
  for (std::sregex_iterator it(list.begin(), list.end(), word), end; it != end; ++it)
    codes.insert(it->str());
  return codes;
}

// The API routes of a server built on a throwaway store (never bound, no model loaded): every
// route except the web pages and their session endpoints, whose labels start with /web.
std::set<std::string> RegisteredApiOperations() {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("bgerase-openapi-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  store::StoreOptions options;
  options.data_dir = dir;
  options.run_reaper = false;
  auto st = store::OpenStore(options);
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  if (!st.ok()) return {};
  std::set<std::string> ops;
  {
    ApiServer server(ServerConfig{}, **st);
    for (const auto& r : server.Routes())
      if (r.label.rfind("/web", 0) != 0) ops.insert(r.method + " " + r.label);
  }
  st->reset();
  std::filesystem::remove_all(dir);
  return ops;
}

TEST(OpenApi, DocumentsEveryApiRouteAndNoOther) {
  const std::string doc = ReadOpenApi();
  ASSERT_FALSE(doc.empty()) << "docs/reference/openapi.yaml is missing";
  const auto documented = DocumentedOperations(doc);
  const auto registered = RegisteredApiOperations();
  ASSERT_GT(registered.size(), 10u);
  for (const auto& op : registered)
    EXPECT_TRUE(documented.count(op)) << op << " is a route but not in openapi.yaml";
  for (const auto& op : documented)
    EXPECT_TRUE(registered.count(op)) << op << " is in openapi.yaml but not a route";
}

TEST(OpenApi, ErrorCodesAreTheCataloguesApiCodes) {
  const auto documented = DocumentedErrorCodes(ReadOpenApi());
  ASSERT_FALSE(documented.empty()) << "no error-code enum in openapi.yaml";
  std::set<std::string> api_codes;
  for (const auto& e : ErrorCatalogue())
    if (!e.web_only) api_codes.insert(std::string(e.code));
  for (const auto& code : api_codes)
    EXPECT_TRUE(documented.count(code)) << code << " is in the catalogue but not in openapi.yaml";
  for (const auto& code : documented)
    EXPECT_TRUE(api_codes.count(code))
        << code << " is in openapi.yaml but is not an API code of the catalogue";
}

}  // namespace
}  // namespace bgerase::api
