// Status -> HTTP: the status code of each domain::ErrorCode (SPEC A.5). The only place
// this mapping lives; the error bodies themselves are domain::ErrorBody (lib/domain/codec.h).
#pragma once

#include "domain/error.h"

namespace jobnik::http {

// Status -> HTTP status code.
int HttpStatusOf(const domain::Status& status);

}  // namespace jobnik::http
