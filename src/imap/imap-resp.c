/* stub: being written */
#include "imap-resp.h"
