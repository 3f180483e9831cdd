module github.com/rtcscale/rtcscale

go 1.26
