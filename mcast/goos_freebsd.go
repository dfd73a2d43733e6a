package mcast

const bsdGOOS = "freebsd"
