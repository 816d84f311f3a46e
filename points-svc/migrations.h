#pragma once

// The numbered SQL files of points-svc/migrations, embedded at build time.

#include <span>

#include "common/pg/migrate.h"

namespace loyalty::points {

std::span<const pg::Migration> Migrations();

}  // namespace loyalty::points
