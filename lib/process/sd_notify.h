// The systemd notification protocol (sd_notify(3)) without libsystemd: one datagram
// to the AF_UNIX socket named by $NOTIFY_SOCKET. A no-op when it is unset.
#pragma once

#include <string_view>

namespace jobnik::process {

// Sends e.g. "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...". Returns false on error.
bool SdNotify(std::string_view state);

// The watchdog interval systemd asks for ($WATCHDOG_USEC), 0 when none.
long long SdWatchdogUsec();

}  // namespace jobnik::process
