#pragma once

// The numbered SQL files of members-svc/migrations, embedded at build time.

#include <span>

#include "common/pg/migrate.h"

namespace loyalty::members {

std::span<const pg::Migration> Migrations();

}  // namespace loyalty::members
