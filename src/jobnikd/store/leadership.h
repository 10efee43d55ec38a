// Leadership among the jobnikd instances on one database, for background work that only
// one of them may do at a time (the stale-task sweeper).
//
// At most one instance leads at a time. Leadership is kept until it is released or its
// holder loses the database (it dies, or its connection breaks); then another instance
// may take it on its next try.
#pragma once

#include "domain/error.h"

namespace jobnik::store {

class Leadership {
 public:
  virtual ~Leadership() = default;

  // Becomes the leader if no instance is, or confirms that this one still is. true: this
  // instance leads; false: another one does. kUnavailable when the database cannot be
  // reached: leadership, if it was held, is lost, and the next call connects again.
  virtual domain::Result<bool> TryLead() = 0;

  // Gives leadership up now (a no-op when not leading); a later TryLead may take it again.
  virtual void Release() = 0;
};

}  // namespace jobnik::store
