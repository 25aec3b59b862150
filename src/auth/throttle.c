/* stub: being written */
#include "throttle.h"
