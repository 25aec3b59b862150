/* stub: being written */
#include "base64.h"
