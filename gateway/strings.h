#pragma once

// Debian 12's Abseil (20220623) has its own absl::string_view, distinct from std::string_view,
// and its string functions (StrCat, StrSplit, ...) take only the former. These adapt at the call.

#include <string_view>

#include "absl/strings/string_view.h"

namespace loyalty::gateway {

inline absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }
inline std::string_view Std(absl::string_view text) { return {text.data(), text.size()}; }

}  // namespace loyalty::gateway
