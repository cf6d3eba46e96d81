/* worker/balance.c: being written */
