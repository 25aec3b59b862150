/* stub: being written */
#include "imap-parser.h"
