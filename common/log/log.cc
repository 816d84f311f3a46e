#include "common/log/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <ostream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log/trace.h"

namespace loyalty::log {
namespace {

// The keys every line may carry before its fields.
constexpr std::string_view kReservedKeys[] = {
    "time", "level", "service", "msg", "trace_id", "span_id",
};
constexpr char kReservedKeyPrefix[] = "field.";
constexpr char kHexDigits[] = "0123456789abcdef";

struct Logger {
  absl::Mutex mu;
  std::ostream* sink ABSL_GUARDED_BY(mu) = nullptr;
  std::string service_name ABSL_GUARDED_BY(mu);
  // Read on every call, outside the mutex, so that disabled levels cost one atomic load.
  std::atomic<Level> min_level{Level::kInfo};
};

// Never destroyed, so threads still logging during exit find it intact.
Logger& GetLogger() {
  static Logger* const logger = new Logger;
  return *logger;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

void AppendUnicodeEscape(unsigned code_point, std::string& out) {
  out.append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) {
    out.push_back(kHexDigits[(code_point >> shift) & 0xf]);
  }
}

// The length of the UTF-8 sequence starting at text[i] and whether it is well-formed (Unicode
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). For an ill-formed one,
// the length is that of its maximal subpart, so that each is replaced by exactly one U+FFFD, as
// Unicode and the WHATWG decoder recommend, and the next character is never swallowed.
std::pair<size_t, bool> ScanUtf8(std::string_view text, size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t continuation_bytes = 0;
  // The second byte's range is narrower after some leads; later bytes are always 80..BF.
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    continuation_bytes = 1;
  } else if (lead == 0xe0) {
    continuation_bytes = 2;
    low = 0xa0;
  } else if (lead == 0xed) {
    continuation_bytes = 2;
    high = 0x9f;
  } else if (lead >= 0xe1 && lead <= 0xef) {
    continuation_bytes = 2;
  } else if (lead == 0xf0) {
    continuation_bytes = 3;
    low = 0x90;
  } else if (lead == 0xf4) {
    continuation_bytes = 3;
    high = 0x8f;
  } else if (lead >= 0xf1 && lead <= 0xf3) {
    continuation_bytes = 3;
  } else {
    return {1, false};  // A stray continuation byte, C0, C1 or F5..FF.
  }
  size_t length = 1;
  for (size_t k = 0; k < continuation_bytes; ++k) {
    if (i + length >= text.size()) return {length, false};
    const auto byte = static_cast<unsigned char>(text[i + length]);
    if (byte < low || byte > high) return {length, false};
    low = 0x80;
    high = 0xbf;
    ++length;
  }
  return {length, true};
}

void AppendJsonString(std::string_view text, std::string& out) {
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x20 || c == 0x7f) {
        // One escape form for every control character keeps the rule simple to audit.
        AppendUnicodeEscape(c, out);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    const auto [length, valid] = ScanUtf8(text, i);
    if (!valid) {
      out.append("\\ufffd");
    } else if (length == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      // C1 controls (U+0080..U+009F): a terminal may act on them (U+009B starts a CSI sequence).
      AppendUnicodeEscape(static_cast<unsigned char>(text[i + 1]), out);
    } else if (length == 3 && c == 0xe2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(text[i + 2]) == 0xa8 ||
                static_cast<unsigned char>(text[i + 2]) == 0xa9)) {
      // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
      AppendUnicodeEscape(0x2000 | (static_cast<unsigned char>(text[i + 2]) - 0x80), out);
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  out.push_back('"');
}

void AppendKey(std::string_view key, std::string& out) {
  out.push_back(',');
  AppendJsonString(key, out);
  out.push_back(':');
}

void AppendDouble(double value, std::string& out) {
  // JSON has no NaN or infinity; a string keeps the line valid and the value readable.
  if (std::isnan(value)) {
    out.append("\"NaN\"");
  } else if (std::isinf(value)) {
    out.append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    // The shortest text that reads back as the same double; never locale-dependent.
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, error == std::errc() ? end : buffer);
  }
}

void AppendValue(const Field::Value& value, std::string& out) {
  if (const auto* text = std::get_if<std::string>(&value)) {
    AppendJsonString(*text, out);
  } else if (const auto* integer = std::get_if<int64_t>(&value)) {
    absl::StrAppend(&out, *integer);
  } else if (const auto* boolean = std::get_if<bool>(&value)) {
    out.append(*boolean ? "true" : "false");
  } else {
    AppendDouble(std::get<double>(value), out);
  }
}

bool IsReservedKey(std::string_view key) {
  for (const std::string_view reserved : kReservedKeys) {
    if (key == reserved) return true;
  }
  return false;
}

std::string FormatLine(Level level, std::string_view service_name, std::string_view message,
                       std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(256);
  line.append("{\"time\":\"");
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()));
  line.append("\",\"level\":\"").append(LevelName(level)).append("\"");
  AppendKey("service", line);
  AppendJsonString(service_name, line);
  AppendKey("msg", line);
  AppendJsonString(message, line);
  if (const TraceContext* trace = CurrentTraceContext(); trace != nullptr) {
    AppendKey("trace_id", line);
    AppendJsonString(trace->trace_id, line);
    AppendKey("span_id", line);
    AppendJsonString(trace->span_id, line);
  }
  for (const Field& field : fields) {
    if (IsReservedKey(field.key)) {
      AppendKey(absl::StrCat(kReservedKeyPrefix, field.key), line);
    } else {
      AppendKey(field.key, line);
    }
    AppendValue(field.value, line);
  }
  line.append("}\n");
  return line;
}

// write(2) directly rather than through stdio, so that each line leaves in one system call (whole,
// for lines up to PIPE_BUF, even beside other writers of fd 2).
void WriteToStderr(std::string_view line) {
  while (!line.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;
    }
    line.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view text) {
  for (const Level level : {Level::kDebug, Level::kInfo, Level::kWarning, Level::kError}) {
    if (text == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level must be one of debug, info, warning, error, got \"",
                   absl::CHexEscape(absl::string_view(text.data(), text.size())), "\""));
}

void Init(std::string service_name, Level min_level) {
  Logger& logger = GetLogger();
  absl::MutexLock lock(&logger.mu);
  logger.service_name = std::move(service_name);
  logger.min_level.store(min_level, std::memory_order_relaxed);
}

bool Enabled(Level level) { return level >= GetLogger().min_level.load(std::memory_order_relaxed); }

void SetSinkForTest(std::ostream* sink) {
  Logger& logger = GetLogger();
  absl::MutexLock lock(&logger.mu);
  logger.sink = sink;
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  Logger& logger = GetLogger();
  std::string service_name;
  {
    absl::MutexLock lock(&logger.mu);
    service_name = logger.service_name;
  }
  // Formatting happens outside the lock so that threads only queue for the write itself.
  const std::string line = FormatLine(level, service_name, message, fields);
  absl::MutexLock lock(&logger.mu);
  if (logger.sink != nullptr) {
    logger.sink->write(line.data(), static_cast<std::streamsize>(line.size()));
    logger.sink->flush();
  } else {
    WriteToStderr(line);
  }
}

std::string JsonQuote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendJsonString(text, out);
  return out;
}

}  // namespace loyalty::log
