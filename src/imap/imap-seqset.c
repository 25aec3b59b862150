/* stub: being written */
#include "imap-seqset.h"
