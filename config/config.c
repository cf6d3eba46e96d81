/* config/config.c: being written */
