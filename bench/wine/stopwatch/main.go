// stopwatch: times service control through the SCM's own API, polling
// QueryServiceStatus every millisecond (sc.exe's `stop` then a loop of `sc query`
// would add a Wine process start, tens of milliseconds, to every sample).
//
//	stopwatch stop NAME    ControlService(STOP), then wait for STOPPED; prints the
//	                       milliseconds from the call to STOPPED and the exit codes
//	stopwatch start NAME   StartService, then wait for RUNNING; prints the milliseconds
//
// Output: one line "NAME stop 123.4 ms win32=0 specific=0" (or start); exit 1 on an
// error or after 30 s. Standard library only (syscall into advapi32.dll).
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

var (
	advapi             = syscall.NewLazyDLL("advapi32.dll")
	openSCManager      = advapi.NewProc("OpenSCManagerW")
	openService        = advapi.NewProc("OpenServiceW")
	controlService     = advapi.NewProc("ControlService")
	startService       = advapi.NewProc("StartServiceW")
	queryServiceStatus = advapi.NewProc("QueryServiceStatus")
	closeServiceHandle = advapi.NewProc("CloseServiceHandle")
)

type serviceStatus struct {
	ServiceType             uint32
	CurrentState            uint32
	ControlsAccepted        uint32
	Win32ExitCode           uint32
	ServiceSpecificExitCode uint32
	CheckPoint              uint32
	WaitHint                uint32
}

const (
	scManagerConnect   = 0x0001
	serviceQueryStatus = 0x0004
	serviceStart       = 0x0010
	serviceStop        = 0x0020
	serviceControlStop = 1
	stateStopped       = 1
	stateRunning       = 4
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "stopwatch: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "stop" && os.Args[1] != "start") {
		die("usage: stopwatch stop|start NAME")
	}
	verb, name := os.Args[1], os.Args[2]
	scm, _, err := openSCManager.Call(0, 0, scManagerConnect)
	if scm == 0 {
		die("OpenSCManager: %v", err)
	}
	defer closeServiceHandle.Call(scm)
	wname, _ := syscall.UTF16PtrFromString(name)
	svc, _, err := openService.Call(scm, uintptr(unsafe.Pointer(wname)), serviceQueryStatus|serviceStart|serviceStop)
	if svc == 0 {
		die("OpenService %s: %v", name, err)
	}
	defer closeServiceHandle.Call(svc)

	var st serviceStatus
	want := uint32(stateStopped)
	t0 := time.Now()
	if verb == "stop" {
		if ok, _, err := controlService.Call(svc, serviceControlStop, uintptr(unsafe.Pointer(&st))); ok == 0 {
			die("ControlService(STOP) %s: %v", name, err)
		}
	} else {
		want = stateRunning
		if ok, _, err := startService.Call(svc, 0, 0); ok == 0 {
			die("StartService %s: %v", name, err)
		}
	}
	for {
		if ok, _, err := queryServiceStatus.Call(svc, uintptr(unsafe.Pointer(&st))); ok == 0 {
			die("QueryServiceStatus %s: %v", name, err)
		}
		if st.CurrentState == want {
			break
		}
		if time.Since(t0) > 30*time.Second {
			die("%s: not %s after 30 s (state %d)", name, verb, st.CurrentState)
		}
		time.Sleep(time.Millisecond)
	}
	ms := float64(time.Since(t0).Microseconds()) / 1000
	fmt.Printf("%s %s %.1f ms win32=%d specific=%d\n", name, verb, ms, st.Win32ExitCode, st.ServiceSpecificExitCode)
}
