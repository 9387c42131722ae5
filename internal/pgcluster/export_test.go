package pgcluster

// SetSystemBinGlob replaces the system search path for one test binary.
func SetSystemBinGlob(g string) { systemBinGlob = g }
