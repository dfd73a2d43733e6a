package mcast

const bsdGOOS = "openbsd"
