/* master/master.c: being written */
