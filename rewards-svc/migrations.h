#pragma once

// The numbered SQL files of rewards-svc/migrations, embedded at build time.

#include <span>

#include "common/pg/migrate.h"

namespace loyalty::rewards {

std::span<const pg::Migration> Migrations();

}  // namespace loyalty::rewards
