module github.com/nuvol-project/nuvol

go 1.26.8

require (
	github.com/dsnet/compress v0.0.1
	github.com/hashicorp/go-msgpack/v2 v2.1.2
	github.com/hashicorp/memberlist v0.5.2
	github.com/hashicorp/serf v0.10.2
	github.com/lxc/go-lxc v0.0.0-20230926171149-ccae595aa49e
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sys v0.15.0
	gopkg.in/ini.v1 v1.67.0
)

require (
	github.com/armon/go-metrics v0.4.1 // indirect
	github.com/google/btree v1.1.2 // indirect
	github.com/hashicorp/errwrap v1.1.0 // indirect
	github.com/hashicorp/go-immutable-radix v1.3.1 // indirect
	github.com/hashicorp/go-metrics v0.5.4 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/hashicorp/go-sockaddr v1.0.5 // indirect
	github.com/hashicorp/golang-lru v1.0.2 // indirect
	github.com/miekg/dns v1.1.56 // indirect
	github.com/sean-/seed v0.0.0-20170313163322-e2103e2c3529 // indirect
	golang.org/x/mod v0.13.0 // indirect
	golang.org/x/net v0.17.0 // indirect
	golang.org/x/tools v0.14.0 // indirect
)
