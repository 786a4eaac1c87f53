// Mount ABI values newer than Debian 12's kernel headers (include after <linux/mount.h>).
#pragma once
#include <linux/mount.h>

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200  // kernel 6.5
#endif
