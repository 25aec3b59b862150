/* stub: being written */
#include "imap-utf7.h"
