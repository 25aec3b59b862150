/* stub: being written */
#include "passdb.h"
