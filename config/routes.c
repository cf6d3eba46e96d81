/* config/routes.c: being written */
