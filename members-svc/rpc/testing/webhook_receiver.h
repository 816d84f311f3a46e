#pragma once

// A small HTTP/1.1 server on 127.0.0.1 and a free port, for webhook tests: it records every
// request (method, target, headers, body) and answers each with the status its behaviour picks,
// or never answers (kHang) until the server stops. One thread per connection; plain sockets.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/check.h"

namespace loyalty::members::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  // Names lowercased.
  std::map<std::string, std::string> headers;
  std::string body;
  absl::Time time;
};

class WebhookReceiver {
 public:
  // A status to answer with, or kHang to keep the connection open without answering.
  static constexpr int kHang = -1;
  // Picks the answer for the request numbered `index` (0 for the first).
  using Behaviour = std::function<int(int index, const ReceivedRequest& request)>;

  explicit WebhookReceiver(Behaviour behaviour) : behaviour_(std::move(behaviour)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    LOYALTY_CHECK(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    LOYALTY_CHECK(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    LOYALTY_CHECK(listen(listener_, 64) == 0);
    socklen_t length = sizeof(address);
    LOYALTY_CHECK(getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~WebhookReceiver() {
    stopping_.store(true);
    acceptor_.join();
    close(listener_);
    std::vector<std::thread> connections;
    {
      absl::MutexLock lock(&mutex_);
      connections.swap(connections_);
    }
    for (std::thread& connection : connections) connection.join();
  }

  std::string url(const std::string& path = "/hook") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  void set_behaviour(Behaviour behaviour) {
    absl::MutexLock lock(&mutex_);
    behaviour_ = std::move(behaviour);
  }

  std::vector<ReceivedRequest> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

  // Waits until `count` requests arrived, at most `timeout`; true when they did.
  bool WaitFor(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    auto enough = [this, count]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return requests_.size() >= count; };
    return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  // Waits for `fd` to become readable, checking the stop flag every 20 ms.
  bool Readable(int fd) {
    while (!stopping_.load()) {
      pollfd entry{.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&entry, 1, 20) > 0) return true;
    }
    return false;
  }

  void Accept() {
    while (Readable(listener_)) {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      absl::MutexLock lock(&mutex_);
      connections_.emplace_back([this, fd] {
        Serve(fd);
        close(fd);
      });
    }
  }

  void Serve(int fd) {
    std::string data;
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    char buffer[4096];
    while (header_end == std::string::npos || data.size() < header_end + 4 + content_length) {
      if (!Readable(fd)) return;
      const ssize_t got = read(fd, buffer, sizeof(buffer));
      if (got <= 0) return;
      data.append(buffer, static_cast<size_t>(got));
      if (header_end == std::string::npos &&
          (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        for (absl::string_view line : absl::StrSplit(data.substr(0, header_end), "\r\n")) {
          const size_t colon = line.find(':');
          if (colon != absl::string_view::npos &&
              absl::AsciiStrToLower(line.substr(0, colon)) == "content-length") {
            LOYALTY_CHECK(absl::SimpleAtoi(line.substr(colon + 1), &content_length));
          }
        }
      }
    }
    ReceivedRequest request{.time = absl::Now()};
    std::vector<std::string> lines = absl::StrSplit(data.substr(0, header_end), "\r\n");
    std::vector<std::string> start = absl::StrSplit(lines[0], ' ');
    request.method = start[0];
    request.target = start.size() > 1 ? start[1] : "";
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      request.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    request.body = data.substr(header_end + 4, content_length);
    int status = 0;
    {
      absl::MutexLock lock(&mutex_);
      status = behaviour_(static_cast<int>(requests_.size()), request);
      requests_.push_back(request);
    }
    if (status == kHang) {
      while (Readable(fd)) {
        if (read(fd, buffer, sizeof(buffer)) <= 0) return;
      }
      return;
    }
    const std::string answer =
        absl::StrCat("HTTP/1.1 ", status, " X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    LOYALTY_CHECK(write(fd, answer.data(), answer.size()) >= 0);
  }

  Behaviour behaviour_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::thread> connections_;
};

}  // namespace loyalty::members::testing
