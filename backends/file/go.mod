module github.com/wxtoken/wxtoken/backends/file

go 1.26.0

require (
	github.com/gofrs/flock v0.13.2
	github.com/wxtoken/wxtoken v0.0.0-00010101000000-000000000000
)

require (
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
