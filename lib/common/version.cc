#include "common/version.h"
namespace jobnik {
std::string_view Version() {
  return JOBNIK_VERSION;
}
}  // namespace jobnik
