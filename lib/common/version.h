#pragma once
#include <string_view>
namespace jobnik {
// e.g. "0.1.0"
std::string_view Version();
}  // namespace jobnik
