/* common/uri.c: being written */
