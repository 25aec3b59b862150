/* stub: being written */
#include "conf.h"
