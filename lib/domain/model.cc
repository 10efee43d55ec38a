#include "domain/model.h"

namespace jobnik::domain {

int Percentage(std::int64_t done, std::int64_t total) {
  if (total <= 0 || done <= 0) return 0;
  if (done >= total) return 100;
  return static_cast<int>((100 * done) / total);
}

}  // namespace jobnik::domain
