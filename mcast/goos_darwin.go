package mcast

const bsdGOOS = "darwin"
