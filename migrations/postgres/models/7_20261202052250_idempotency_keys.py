from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "debits" DROP CONSTRAINT IF EXISTS "debits_idempotency_key_key";
        DROP INDEX IF EXISTS "uid_debits_idempot_4e0687";
        CREATE TABLE IF NOT EXISTS "idempotency_keys" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "scope" VARCHAR(32) NOT NULL,
    "idempotency_key" VARCHAR(128) NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "token" UUID NOT NULL,
    "locked_until" TIMESTAMPTZ,
    "result" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_idempotency_scope_8785c7" UNIQUE ("scope", "idempotency_key")
);
CREATE INDEX IF NOT EXISTS "idx_idempotency_created_944834" ON "idempotency_keys" ("created_at");
COMMENT ON TABLE "idempotency_keys" IS 'A request''s hold on its Idempotency-Key, for the retention period.';
-- Issue 24: every key a debit already holds keeps holding it (for the retention period,
-- counted from the debit), as models.idempotency writes it: the fingerprint is
-- json.dumps([user_id, amount, reason]) compact, the result the debit's id.
INSERT INTO "idempotency_keys" ("scope", "idempotency_key", "fingerprint", "state", "token",
    "locked_until", "result", "created_at")
SELECT 'debit', "idempotency_key",
    '[' || "user_id" || ',' || "amount" || ',' || to_json("reason")::text || ']',
    'done', gen_random_uuid(), NULL, "id"::text, "created_at"
FROM "debits";"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "idempotency_keys";
        CREATE UNIQUE INDEX IF NOT EXISTS "uid_debits_idempot_4e0687" ON "debits" ("idempotency_key");"""


MODELS_STATE = (
    "eJztXelv47YS/1cIf+kGcBdp9nx5RQEn9m7d5kLibIs2hUJLjK1GJlVRSmL07f/+ZijJln"
    "V4JV+RHX7JQXJI6jc8hnOQ/zZGwmKOfN1mfdtvHJJ/G5yOGPwxm9EkDeq602RM8GnfUSUt"
    "LKKSaF/6HjWxojvqSNbETGl6tuvbgmPZK596klBOoDoiXcZ9cueJEaGkTx3KTSAR8JO4zC"
    "O2xUau8Bk3x+SejcmrqEsOswbMex02u/caG7aECS3bfLCmNm74De8NGfHEI+HsAQjNIeUD"
    "Jkk/gNoFVORL4mGOpM5/iQ9l72xP+tAN+QjFfaHSPPZPwCDVlje8H9hO1DPbJ68ot1QlYc"
    "vY0ncy7vD39M5n3l6TSAFf4THXoWMysB+gfSClA2pzBUPAbajf8MWAQWsegPHnX5Bsc4s9"
    "MRn/694bdzZzrBl22xZWoNINf+yqtOvrbvuTKokQ9w1TOMGIT0u7Y38o+KR4ENjWa6TBvA"
    "HjzKM+sxJjgQeOEw2aOCnsMST4XsAmXbWmCRa7o4GDI6rx413ATRxIRLWEP97+FHUtUcww"
    "zs57xlWnZxiNzADELqTGS5RkCo6D1+Y+AvXv17DeKSAqtYENHP/cunz15v2egkBIf+CpTA"
    "VX46sipD4NSRXoU5TpSATczyJ9ZA+63M/HekqTwtsOU6siHSdMoZ7O1RjEGKY1AAv9hV/f"
    "/+fg4M2bDwf7b95/fPf2w4d3H/c/QlnV42zWhzncOOp+7p71sEMClp5wRcIEZMQUeI9RCf"
    "3MAN9jTwWwTylSsMPHbCHscxDsdX5X+I2k/MfBhLMvrUs1yE9bv6tRPhpHOSfnZ5/j4lO4"
    "z45Pzo9SgCcWVgMW1izyx0PqFS0uGdKdYEFjRJ8Mh/GBP4R/fzj4OIcnMQeg1F4K7CjrIM"
    "ybRd2EUQt4GDRnjWlDjm+PWD7os5QpvK2I9HX8xxaiP28CdE87V73W6cXMLGi3eh3MOZiZ"
    "AXHqq/cpvkwqIb91ez8T/Jf8cX7WSe8Sk3K9PxrYJxr4wuDi0aBWEpM4OU5KrWYoaCzE5x"
    "TpChgdbdSaz+viM3WMRbavDOlCi+gWcXcd21ggmWfkycbzJLYEkRbZKolseDy5u88VnRHU"
    "LBs+CY/ZA/4rGytWdKHfeGDKgT462F1H1WwZC77GYyxOnU5Njz5OznPJoQffDl/MfPX1l7"
    "AWXXaPAWOEuE/N+0fqWUYB1nBk9mwmc0Z9RPjp10vmUPURhUifqINsB6oab+06k8FbwScO"
    "RAK2GUCzWaODUTqFcjpQn4RtY0sRYp0HxnOVMGFGc54ShmGRkkqYVqxXiLQYRDwyK1ZRQB"
    "NK8WDeM26hpiRUlEzVElmFy5L1oXLlN8/2QeInNldEM0oQ+BouaXjyf3UbQRJ+722sEzE9"
    "KofEpJwLnzhCMmxI1Xx+B9k4LaAmF7oAfSYhMWFPUKszxqJN1eyQUejikEogueWwt4KU5M"
    "NhBH/fKq3ODdQ/hI2VPFLbJ302tJXaRvUCa5DQAnT8DpKhzJCiqodYASOPNsyRwCewHasu"
    "ICCOGMiSeps/YbuGyYOFU/1qQMlEbmIBwFk8xr//eulan8YVKgGBrezBN34csqef0mN4k0"
    "oghVwG9uLzcFx+Bw/Bbw5KnIHfHBQegTFrVmCTIvDMSvBOKTTAZQCOV5osvh0ejDJi2CzW"
    "MfHmoG5Ei37VJeOic9bunn0+jDeNG97unHS/dC477UMCW5AN5ytm3fDWUeusDec/SKV9yi"
    "3YTKxyq0tKH/S+jDoofRpNaIPepzkV7RE5YlyxrjlBsrmjy/56zy0HP7z98Pbjm/dvJ8eV"
    "Scq8U0pWiZzeeTO4zle95JBr9Uud1S8AaLCQkm2GUOtSa81kENVtOVyIzSlSPZnrzGeHSt"
    "9gnidytEjFatRZKq1Bra5B1SapFzG9tKL82XwbJnqeStgnqVYD/reVOTsBvbZRPKONIqt+"
    "T82DLPznnPUE/CgJfjWzRb0mQVkOJOd+GRYsZdX4bN/lGjVUenOeTWMAJUqbNHrwEQOPjg"
    "hSEeGRC4+N7GBEZNCfFCV9EQyGE3/QyCwQWS9y7BrLV3rDY5dS9TV7xb6nodeoCPy+eIqM"
    "IKGp4FF491AcTQtSNaLsGrexJgEGtBeKSbdobHiMLCnKodQUoxH+a+2RPruDdWj6RVDUpI"
    "7DrENCobqoNmiYol1jgO6zUAHaQrggICjAQEWayPtVUYaep/hFzhi65/uYhh284QPmoxtu"
    "b2q6keTVbcKSA6PvtknCaXMYWoUCz4TmQidbxAcB2yuyj/zZmK0sNHKUtJi8dHvIM3vB3s"
    "P3LapBjmnrrKtvfO5+6h2q8XvDLy47p93r00PihktHPXTDIMkvJLHP0i0kN9bsPPw8Mjvg"
    "CIudvwj+CTqN/8L4R9uggZM0lwvFOqE8Wq0Zqq4ZihZEYyS4P6xipcoS7tBEWJm1yqVjA0"
    "Q+I3BhsFo5JtsjIUDE5AUYZ6lTIPeBfF177iRls8P86Pz8ZGaYH3XT4/j69KgDe60a81DI"
    "9gsWGJTKAc7K0T6zdFortsQK/5QD/bxV/SkPcr2Sl1jJX65PyFXnDCR9OJqDpP+p1T1BN5"
    "A7ajt18QGpYxjW8+qJdRBWTRembbN4aW+gl8XvrL61Ksvza9Bc3wKuayfKVR1LU2r7KhJ6"
    "hlLL6tVldZROA48tEFKapdT4L4C/9jd8ERuHdojSXjl1YIGOHK4H3muNHO5OdTUwoBs53j"
    "apEs15fjcpzU9pF5zodrPvJBkKxyKCqwvNEi1/D0031XVp4WVokKg8GVzm2cLKCyxetkr0"
    "lDl2KOyGVuwBg+XQpaaJ3jEuDnMrDjvG5NmA4yZxvYCjqwvewBZGAKcbmVwal8Btjt+KNE"
    "UYz5lWsKU9WCp5qczbVcpuKNFMqq/uboOGhGLvlQn/SgeYxgR19llZUIG6+vjSOmqsawX5"
    "WnTWcLSALdf17Dx75Zwj4SzZTqBdI+NZoYl40wazzQ3uNXi63bMcNUexV+eEYJWOnfUd09"
    "/040yE0AnznllGAMKPU1V3kabVyos6Ky9Cf+8qO8GUQisFdz1I8hlCWrZ2VmX0UlVim1an"
    "IPhF9K+U2JCjGpjkNecpBf4WfWMieZTRBmArFgaxSKZCSczAk3BMx6M6ftPAEwGkQrWSSJ"
    "B18ICOUSQPMDgdOHULk0nJZJ5SYIU1L3FjuvpdQWyLy++cE82qzoDFR27U/eTpcIu3oymF"
    "3o6qb0dqai0o582SajGvbhvSjNihFs4si3+5Oj8rEDcmFGnO2qZP/kccW67NTpUIfVNvZ9"
    "hcvsZmnyP6DRGaP+3SMyzFPqwgc9mway0oBc5S7qDjID7HYJ1zZxwtCNs7Cye2oBpIhUlD"
    "W45gmLLDFcuG4XWtRsL4900BsZjz+cG+ccyVS8cjaAej4LwBiwyWKij0L7wHVT3Yk0lNBG"
    "qFiZlY4YT1M3GiUsSJrMp3qWqrzKasMrv7sk7jyh5wDNOHgWmh9RNONATWINu3HzJ3Fjw/"
    "i15QmHfv/OL6AiabcAP3hl92Pl2ftQ+Jx0BMsfC60C/G8WWn3e3hfaEPRsi+G95q/3J91T"
    "tVgSPU+juQ/kiFj7Q7R2HRvh3/Z1x2vnQur1onUbIRv+pww+eFmIe5Rhibota+MEBFpU6r"
    "VDlxjSUH0rqV9XOX+coBurm16ANh9QMh5WJEnUrG2ATJLiC+brM3F9WMgHH53cP24N27Eu"
    "BCqUJ0VV42HFca0Z08hnLmqSYrFFRQZ8GhlhLctto89Gn326fdaFmZq3JKHtDKWuSTNEsY"
    "5Wu26q3GJl94f0kxnMXXlrx4NIVnFXjtF8OZpNF46ufTdBBE/ViwuiCIzGqxAlB7wr12z+"
    "PKtnKd+CayyVWyBLRW/Oz8ktBOnq/fTVSTklEJVAfRlatLghrf3LqbmCbEoxVcTzzHWJOI"
    "morf98uPmYpvMP525NTkocDdYM3XivasM+HbJmvkmLKinOY8KxZXZUpHO42YlDTx2GF482"
    "9zcgEvvvinoopGgrNx/DSiul/XpFAU3w3M825aSb0Y99SDMn3hRxcH2z6B0cM8AuUocamZ"
    "uAuYmiZzfRm9pSgd8Yh3HWO8t7rkCCs4jXoV3v8L2NGxxEIBtwST6gVGVG83lUNW/B6jyp"
    "q8yBh97sL2PR0eVRc5sznHEFds9clHfxssPfUJZtD2kSobyubsI1tifV7zJTEb1iAn7u0v"
    "D3uCSOO+GO76TqSX8LCkDgRZm98tumMswOcEmfarrjN/tWmzeOncXdOmNnZoY0cdWLCsse"
    "O4dXXcandWpuesqMRLWENyFHmztpJiZZ5yyjSU1WENDunz/McxSDKQGd/xpFt5JdXVDr4/"
    "1Wg5Uigdps0fhI3vodGxI2jJS9OXsU1X9yCv1QF+/Sv3yg410TzI4Fn+VYAg77i4RsXg6p"
    "4FuGh12/Avta3YL7wz8QxnkNb5/aJ7iUnsybU9TKnl4wHh5DQCLycMtFi9mCLT+kR9H8Rm"
    "OFGj80KpY2I4+eUCXJ6l3MFj4i6x2Rwy814Ei2h8UqRa61NnPuN2vwCPE2Sav3Xmbyy+Lc"
    "DjFKnmc535rI3s9RSKtX5V61frwILVOZMXK1j1jfrPfKO+Gps5+ud4zBZrnpHt61c5b9z7"
    "cTXq4+rDpDHxUkVgiV1WN1YLZ0jscv49gcWCQ5JGiwmLPLDkSd+oivoslcZ9gUsDKR8EsJ"
    "gCqHmvjRdDnyHU6C90i/z0foJqO0CGdGcc9PSNBnWZDrvs9qNvbdwxrudoiare2piKZF3y"
    "+FY2irVu/C88uc1YwTBmcUmAysY9biVAGJC6JD4lI3a3Ep7w8tFN6ke2EqZEdOviOE3DaH"
    "cRoqm34OIIVbrLYWtQWqemrcU82xw2cnRtUU5znraNTsvURt32UiKNl3QVLFab4ZWkdt7j"
    "5MVhxAmSHYwkXsudiDipKiAcFd9BdH/Y3y/jOrm/X+w7iXkpZYDgfu6tHnMeV5iSbP51he"
    "fRha3sHYUKZ7PVb2Zf/w/BdvUo"
)
