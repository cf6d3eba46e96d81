#!/bin/sh
# tests/check_layering.sh -- the rule of the house (HACKING.md, Layout):
# common/ includes nothing of config/, worker/ or master/, and config/
# nothing of worker/ or master/. The link lines catch a call across the
# line; this catches a header that crosses it.
top=${srcdir:-.}
rc=0
if grep -n '#include "\(config\|worker\|master\)/' "$top"/common/*.[ch]; then
	echo "common/ must not include config/, worker/ or master/" >&2
	rc=1
fi
if grep -n '#include "\(worker\|master\)/' "$top"/config/*.[ch]; then
	echo "config/ must not include worker/ or master/" >&2
	rc=1
fi
exit $rc
