module github.com/wxtoken/wxtoken/backends/memcache

go 1.26.0

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c
	github.com/wxtoken/wxtoken v0.0.0-00010101000000-000000000000
)

require golang.org/x/sync v0.24.0 // indirect
