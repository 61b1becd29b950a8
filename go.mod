module github.com/hutong-pay/hutong

go 1.26.8
