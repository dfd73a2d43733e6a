package mcast

const bsdGOOS = "netbsd"
