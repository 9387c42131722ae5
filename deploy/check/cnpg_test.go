package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// The CloudNativePG resources, as far as the example relies on them. The
// project's Go types are not to be had from the module proxy, so these
// mirror the fields the example uses (names as in the operator's CRDs
// postgresql.cnpg.io/v1 and barmancloud.cnpg.io/v1) and the manifest is
// decoded into them strictly: a misspelt field of these fails here, a
// field beyond them fails too, and the CRDs validate the rest on apply.
type cnpgCluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Instances             int    `json:"instances"`
		PrimaryUpdateStrategy string `json:"primaryUpdateStrategy"`
		PostgreSQL            struct {
			Parameters  map[string]string `json:"parameters"`
			Synchronous struct {
				Method         string `json:"method"`
				Number         int    `json:"number"`
				DataDurability string `json:"dataDurability"`
			} `json:"synchronous"`
		} `json:"postgresql"`
		Bootstrap struct {
			InitDB struct {
				Database string `json:"database"`
				Owner    string `json:"owner"`
			} `json:"initdb"`
		} `json:"bootstrap"`
		Storage struct {
			Size string `json:"size"`
		} `json:"storage"`
		WALStorage struct {
			Size string `json:"size"`
		} `json:"walStorage"`
		Resources corev1.ResourceRequirements `json:"resources"`
		Affinity  struct {
			EnablePodAntiAffinity bool   `json:"enablePodAntiAffinity"`
			TopologyKey           string `json:"topologyKey"`
			PodAntiAffinityType   string `json:"podAntiAffinityType"`
		} `json:"affinity"`
		Plugins []struct {
			Name          string            `json:"name"`
			IsWALArchiver bool              `json:"isWALArchiver"`
			Parameters    map[string]string `json:"parameters"`
		} `json:"plugins"`
	} `json:"spec"`
}

type cnpgObjectStore struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		RetentionPolicy string `json:"retentionPolicy"`
		Configuration   struct {
			DestinationPath string `json:"destinationPath"`
			S3Credentials   struct {
				AccessKeyID     corev1.SecretKeySelector `json:"accessKeyId"`
				SecretAccessKey corev1.SecretKeySelector `json:"secretAccessKey"`
			} `json:"s3Credentials"`
			WAL struct {
				Compression string `json:"compression"`
			} `json:"wal"`
			Data struct {
				Compression string `json:"compression"`
			} `json:"data"`
		} `json:"configuration"`
	} `json:"spec"`
}

type cnpgScheduledBackup struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Schedule             string `json:"schedule"`
		BackupOwnerReference string `json:"backupOwnerReference"`
		Cluster              struct {
			Name string `json:"name"`
		} `json:"cluster"`
		Method              string `json:"method"`
		PluginConfiguration struct {
			Name string `json:"name"`
		} `json:"pluginConfiguration"`
	} `json:"spec"`
}

// The chart values of the CloudNativePG example, as far as they meet the
// Cluster.
type cnpgValues struct {
	ReplicaCount int `json:"replicaCount"`
	DatabaseURL  struct {
		ExistingSecret    string `json:"existingSecret"`
		ExistingSecretKey string `json:"existingSecretKey"`
		Suffix            string `json:"suffix"`
	} `json:"databaseURL"`
	ExtraVolumes      []corev1.Volume      `json:"extraVolumes"`
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts"`
	Config            map[string]string    `json:"config"`
	NetworkPolicy     struct {
		DatabaseTo   []networkingv1.NetworkPolicyPeer `json:"databaseTo"`
		DatabasePort int                              `json:"databasePort"`
	} `json:"networkPolicy"`
}

// The example values point at what the operator makes for the example
// Cluster: its app Secret and key, its CA, its instances' labels; its
// backups go to the object store declared beside it; and the replicas'
// pools fit in its max_connections.
func TestCloudNativePGExampleFitsTogether(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(deployDir, "cloudnativepg", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitYAML(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var (
		cluster cnpgCluster
		store   cnpgObjectStore
		backup  cnpgScheduledBackup
	)
	seen := map[string]bool{}
	for _, d := range docs {
		var tm struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(d), &tm); err != nil {
			t.Fatal(err)
		}
		var into any
		switch tm.APIVersion + "/" + tm.Kind {
		case "postgresql.cnpg.io/v1/Cluster":
			into = &cluster
		case "barmancloud.cnpg.io/v1/ObjectStore":
			into = &store
		case "postgresql.cnpg.io/v1/ScheduledBackup":
			into = &backup
		default:
			t.Fatalf("cluster.yaml: unexpected %s/%s", tm.APIVersion, tm.Kind)
		}
		seen[tm.Kind] = true
		if err := unmarshalStrict(d, into); err != nil {
			t.Fatalf("cluster.yaml %s: %v", tm.Kind, err)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("cluster.yaml holds %v, want a Cluster, an ObjectStore and a ScheduledBackup", sortedKeys(seen))
	}
	name := cluster.Metadata.Name

	vb, err := os.ReadFile(filepath.Join(deployDir, "cloudnativepg", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v cnpgValues
	if err := yaml.Unmarshal(vb, &v); err != nil {
		t.Fatal(err)
	}

	// HA: a primary and standbys, one synchronous, on separate nodes.
	if cluster.Spec.Instances < 3 || cluster.Spec.PostgreSQL.Synchronous.Number < 1 || !cluster.Spec.Affinity.EnablePodAntiAffinity {
		t.Errorf("Cluster %+v: want 3 instances, a synchronous standby, one instance per node", cluster.Spec)
	}
	// The database URL: the operator's app Secret "<cluster>-app", key uri,
	// verified against the cluster's CA "<cluster>-ca" mounted where the
	// suffix says.
	if v.DatabaseURL.ExistingSecret != name+"-app" || v.DatabaseURL.ExistingSecretKey != "uri" {
		t.Errorf("DATABASE_URL from %s/%s, want %s-app/uri", v.DatabaseURL.ExistingSecret, v.DatabaseURL.ExistingSecretKey, name)
	}
	if !strings.HasPrefix(v.DatabaseURL.Suffix, "?") || !strings.Contains(v.DatabaseURL.Suffix, "sslmode=verify-full") {
		t.Errorf("suffix %q: want ?sslmode=verify-full… (the uri has no query)", v.DatabaseURL.Suffix)
	}
	var rootCert string
	for _, p := range strings.Split(strings.TrimPrefix(v.DatabaseURL.Suffix, "?"), "&") {
		if k, val, _ := strings.Cut(p, "="); k == "sslrootcert" {
			rootCert = val
		}
	}
	mounted := false
	for _, m := range v.ExtraVolumeMounts {
		for _, vol := range v.ExtraVolumes {
			if vol.Name != m.Name || vol.Secret == nil || vol.Secret.SecretName != name+"-ca" {
				continue
			}
			for _, it := range vol.Secret.Items {
				if it.Key == "ca.crt" && filepath.Join(m.MountPath, it.Path) == rootCert {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("sslrootcert=%s is not %s-ca's ca.crt as mounted by extraVolumes", rootCert, name)
	}
	// The NetworkPolicy lets the pods reach the Cluster's instances.
	peers, _ := json.Marshal(v.NetworkPolicy.DatabaseTo)
	if !strings.Contains(string(peers), `"cnpg.io/cluster":"`+name+`"`) {
		t.Errorf("networkPolicy.databaseTo %s does not select the pods of Cluster %s", peers, name)
	}
	// Backups: WAL to the declared object store, nightly base backups of
	// this Cluster through the same plugin.
	if len(cluster.Spec.Plugins) != 1 || !cluster.Spec.Plugins[0].IsWALArchiver || cluster.Spec.Plugins[0].Parameters["barmanObjectName"] != store.Metadata.Name {
		t.Errorf("Cluster plugins %+v: want the WAL archiver writing to ObjectStore %s", cluster.Spec.Plugins, store.Metadata.Name)
	}
	if backup.Spec.Cluster.Name != name || backup.Spec.Method != "plugin" || backup.Spec.PluginConfiguration.Name != cluster.Spec.Plugins[0].Name {
		t.Errorf("ScheduledBackup %+v does not back up Cluster %s through its plugin", backup.Spec, name)
	}
	if f := strings.Fields(backup.Spec.Schedule); len(f) != 6 {
		t.Errorf("schedule %q: CloudNativePG's has six fields (seconds first)", backup.Spec.Schedule)
	}
	// Connections: every replica's pool, and a migration's 2, within
	// max_connections with room to spare for operators and the operator's
	// own connections.
	maxConns, err := strconv.Atoi(cluster.Spec.PostgreSQL.Parameters["max_connections"])
	if err != nil {
		t.Fatalf("max_connections: %v", err)
	}
	perReplica, err := strconv.Atoi(v.Config["SCIMBRIDGE_DB_MAX_CONNS"])
	if err != nil {
		t.Fatalf("SCIMBRIDGE_DB_MAX_CONNS: %v", err)
	}
	// A rolling update runs one replica more (maxSurge 1).
	if need := (v.ReplicaCount+1)*perReplica + 2; need > maxConns*3/4 {
		t.Errorf("%d replicas (and one surging) × %d connections + 2 = %d, more than 3/4 of max_connections %d", v.ReplicaCount, perReplica, need, maxConns)
	}
}
