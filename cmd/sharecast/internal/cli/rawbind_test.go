package cli_test

func rawBindHelper(args []string) int { return 0 }
