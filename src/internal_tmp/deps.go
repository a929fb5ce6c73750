package deps

import (
	_ "github.com/dsnet/compress/bzip2"
	_ "gopkg.in/ini.v1"
	_ "github.com/hashicorp/serf/serf"
	_ "github.com/ulikunitz/xz"
)
