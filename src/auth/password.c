/* stub: being written */
#include "password.h"
