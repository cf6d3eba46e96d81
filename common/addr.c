/* common/addr.c: being written */
