/* stub: being written */
#include "sasl.h"
